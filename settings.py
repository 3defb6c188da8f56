"""Runtime configuration, read from the environment (and a `.env` file when present)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'procura.db'}"
DEV_SECRET = "procura-development-secret-change-me-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    procura_env: str = Field("development", description="development, test or production")
    database_url: str = DEFAULT_SQLITE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    # Base of the links in emails; empty: http://HOST:PORT as served (see _default_public_url).
    public_url: str = ""

    jwt_secret: str = DEV_SECRET
    jwt_issuer: str = "procura"
    jwt_audience: str = "procura-api"
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    link_token_hours: int = 24

    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 2

    login_free_failures: int = 5
    login_free_failures_per_address: int = 50
    login_lockout_base_seconds: int = 2
    login_lockout_max_seconds: int = 900

    smtp_url: str | None = None
    mail_from: str = "Procura <no-reply@procura.local>"

    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_page_size: int = 100
    # Largest query cost a request may have (schema/cost.py, README "Limits"): a page of 100 orders
    # with every field costs 9,702, with the approval queue's 100 as well 21,004; 30 aliased pages
    # of 100 orders with lines, timeline and approval flow cost 90,030.
    max_query_cost: int = Field(25_000, gt=0)

    sqlite_busy_timeout_ms: int = 10000

    supplier_currency: str = "NOK"
    default_credit_limit: int = 300_000_00  # minor units: 300 000 NOK, the ceiling of the source services

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # A link to 0.0.0.0 (or ::) opens nothing: those mean "every interface", so point at this machine.
        if not self.public_url:
            host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
            host = f"[{host}]" if ":" in host else host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @property
    def is_production(self) -> bool:
        return self.procura_env == "production"

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_production_safety(self) -> None:
        if self.is_production and self.jwt_secret == DEV_SECRET:
            raise RuntimeError("JWT_SECRET must be set when PROCURA_ENV=production")
