"""One router per resource; `serving.main` includes them all."""
