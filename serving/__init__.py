"""The prediction service: FastAPI on the models the registry names champion (`serving.main:create_app`)."""
