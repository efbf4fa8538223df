# The platform's one image; its command picks the role (deploy/roles.py):
#   code-server | webserver | daemon | api | app | mlflow | migrate | any command (e.g. `mlops materialize`)
# Build: docker build -t mlops-platform .   (CI pushes ghcr.io/<owner>/<repo>:<sha> and :latest)

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: a virtualenv with the dependencies, then the project --------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies come from pyproject.toml alone, so this layer is rebuilt only when they change, not with
# every code change. The `deploy` extra adds Dagster's Docker and Kubernetes run launchers.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['deploy']))" > requirements.txt \
    && pip install -r requirements.txt

# ---- runtime: the virtualenv and the sources, no build tools, a non-root user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLOPS_PROFILE=services \
    MLOPS_DATA_DIR=/var/lib/mlops \
    DAGSTER_HOME=/opt/dagster/home
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --home-dir /app --shell /usr/sbin/nologin mlops \
    && mkdir -p /var/lib/mlops /opt/dagster/home \
    && chown mlops:mlops /var/lib/mlops /opt/dagster/home
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
# The project itself, editable: its commands (`mlops`) and `dagster -m definitions` use /app's sources.
RUN pip install --no-cache-dir --no-deps -e . \
    && pip check
COPY deploy/compose/dagster/dagster.yaml /opt/dagster/home/dagster.yaml
USER 10001:10001
EXPOSE 3000 4000 5000 8000 8501
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "deploy.roles", "health"]
ENTRYPOINT ["python", "-m", "deploy.roles"]
CMD ["api"]
