"""Scoring documents with a proxy LM: model_loss, loss_reweight, loss_filter."""
