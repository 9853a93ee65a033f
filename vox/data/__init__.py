"""The data path: audio front end, corpora, features, datasets, corpus preparation."""
