# One image for every Touchline process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TOUCHLINE_INSTANCE_DIR=/var/lib/touchline \
    TOUCHLINE_TEMPLATES_DIR=/app/email_templates \
    TOUCHLINE_POLICY_FILE=/app/rules/policy.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY web ./web
COPY rules ./rules
COPY email_templates ./email_templates
RUN pip install ".[postgres]" \
    && useradd --system --home /var/lib/touchline --create-home touchline \
    && install -d -o touchline -g touchline /var/lib/touchline/mail

USER touchline
EXPOSE 8000
CMD ["touchline", "web", "--host", "0.0.0.0", "--port", "8000"]
