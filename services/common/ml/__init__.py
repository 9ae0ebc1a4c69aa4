"""Machine learning shared by the workers: the sentence encoder, n-gram features, the model store
with hot reload, and the retraining data read back from the database. Needs the `ml` extra; the
gateway never imports it."""
