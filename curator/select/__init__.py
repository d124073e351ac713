"""Data selection toward a target distribution: DSIR importance resampling (Xie et al. 2023)."""
