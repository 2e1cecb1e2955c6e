"""The document job's render stage: speech per slide, slide images, one encode, HLS, captions."""
