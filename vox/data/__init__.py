"""The data path: audio front end and reader, corpora, features, datasets,
where an experiment's data comes from (sources), corpus preparation."""
