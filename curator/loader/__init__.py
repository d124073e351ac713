"""The online half: token stores, the mixture file, the scheduler and the torch dataset."""
