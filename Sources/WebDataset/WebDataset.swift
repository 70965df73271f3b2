// WebDataset streaming: see issue 5.
