# One image per service: docker build --build-arg SERVICE=intake -t onestop/intake .
# (SERVICE is one of intake, routing, mediation, court_bridge, notify, court_simulator)
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/onestop \
 && /opt/onestop/bin/pip install --no-cache-dir --upgrade "pip<26" \
 && /opt/onestop/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml ./
COPY services ./services
COPY config ./config
RUN /opt/onestop/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
ARG SERVICE=intake
ENV SERVICE=${SERVICE} \
    PATH=/opt/onestop/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ONESTOP_CONFIG=/etc/onestop/onestop.yaml
RUN groupadd --system --gid 10001 onestop \
 && useradd --system --uid 10001 --gid onestop --no-create-home --shell /usr/sbin/nologin onestop
COPY --from=build /opt/onestop /opt/onestop
COPY config/onestop.yaml /etc/onestop/onestop.yaml
USER 10001:10001
EXPOSE 8001 8002 8003 8004 8005 8010
# The probe asks the service itself; /healthz answers without touching the broker or database.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-m", "services.common.container", "healthcheck"]
ENTRYPOINT ["python", "-m", "services.common.container"]
