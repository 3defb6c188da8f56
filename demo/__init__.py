"""Demo data for `procura demo-data` (and `make run`): not part of the product's request path."""
