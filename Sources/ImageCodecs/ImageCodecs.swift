// Image decoding and transforms: see issue 5.
