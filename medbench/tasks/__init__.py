"""One module per task pipeline: config -> data -> model -> training.fit -> evaluation."""
