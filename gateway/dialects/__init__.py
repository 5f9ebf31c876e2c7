"""Client dialects: decode a request into a ChatCall, encode answers, stream frames and errors back."""
