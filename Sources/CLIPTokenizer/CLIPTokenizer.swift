// CLIP BPE tokenizer (pure Swift): see issue 3.
