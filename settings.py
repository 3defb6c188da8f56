"""Runtime configuration, read from the environment (and a `.env` file when present)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_SQLITE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'procura.db'}"
DEV_SECRET = "procura-development-secret-change-me-in-production"
MIN_JWT_SECRET_BYTES = 32


# The seller on invoices outside production (development, tests, the demo): a made-up supplier with valid numbers.
DEMO_SUPPLIER = {
    "supplier_name": "Procura Demo Supplier AS",
    "supplier_org_number": "912345688",
    "supplier_street": "Storgata 1",
    "supplier_postal_code": "0155",
    "supplier_city": "Oslo",
    "supplier_bank_account": "15032080119",
    "supplier_iban": "NO9386011117947",
    "supplier_bic": "DNBANOKK",
    "supplier_email": "invoices@supplier.example",
}


class UnsafeSettings(RuntimeError):
    """The settings would run production insecurely (e.g. a missing or weak JWT_SECRET)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Production unless told otherwise: a deployment that forgets PROCURA_ENV must not sign tokens
    # with the public development key or serve GraphiQL; `make run`, the tests and the benchmarks set it.
    procura_env: Literal["development", "test", "production"] = "production"
    database_url: str = DEFAULT_SQLITE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    # Base of the links in emails; empty: http://HOST:PORT as served (see _default_public_url).
    public_url: str = ""

    jwt_secret: str = Field("", description="HMAC key of access tokens; outside production it defaults to DEV_SECRET")
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
    password_reset_free_requests: int = 3
    password_reset_free_requests_per_address: int = 20

    # Peers whose X-Forwarded-For is believed (addresses or CIDR networks, comma-separated);
    # none by default, so a client cannot choose the address it is throttled under.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    max_request_bytes: int = Field(1024 * 1024, gt=0, description="Larger request bodies are refused with 413")

    smtp_url: str | None = None
    mail_from: str = "Procura <no-reply@procura.local>"

    # Webhook endpoints on loopback, private, link-local and other non-public addresses (README "Webhooks"):
    # unset, they are refused in production and allowed in development and tests (local receivers).
    webhook_allow_private_networks: bool | None = None

    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_page_size: int = 100
    # Largest query cost a request may have (schema/cost.py, README "Limits"): a page of 100 orders
    # with every field costs 9,702, with the approval queue's 100 as well 21,004; 30 aliased pages
    # of 100 orders with lines, timeline and approval flow cost 90,030.
    max_query_cost: int = Field(25_000, gt=0)
    # API clients' rate limit (README "API clients"): a bucket of query-cost points per client that
    # refills per second; a request is charged its cost (at least 1). The capacity holds two requests
    # of the largest cost; the refill is 3.6 million points an hour (a page of 100 orders with their
    # lines costs about 2,500).
    api_rate_limit_capacity: int = Field(50_000, gt=0)
    api_rate_limit_refill_per_second: int = Field(1_000, gt=0)

    sqlite_busy_timeout_ms: int = 10000

    # Subscriptions (README "Subscriptions"): how often each server process reads the change feed when
    # nothing woke it (SQLite: changes written by other processes; PostgreSQL: a safety net under
    # LISTEN/NOTIFY), and how often a live subscription re-loads its caller when no change came (a
    # revoked session, a deactivated member or a revoked API client ends it within that time).
    subscription_poll_seconds: float = Field(1, gt=0)
    subscription_recheck_seconds: float = Field(10, gt=0)

    # `procura worker` (README "Background worker"): jobs run at once, how long a claimed job is leased
    # (extended while it runs; a killed worker's job runs again after it), how often an idle worker looks
    # for work, how often it writes its heartbeat, when /readyz calls a heartbeat stale, and how long
    # running jobs may take to finish on SIGTERM before they are stopped and given back.
    worker_concurrency: int = Field(4, gt=0)
    worker_lease_seconds: float = Field(60, gt=0)
    worker_poll_seconds: float = Field(1, gt=0)
    worker_heartbeat_seconds: float = Field(5, gt=0)
    worker_stale_seconds: float = Field(30, gt=0)
    worker_grace_seconds: float = Field(30, ge=0)
    # Mail the after-commit delivery could not send is retried by the worker after MAIL_RETRY_SECONDS,
    # doubling per attempt (at most an hour apart), MAIL_MAX_ATTEMPTS tries in all.
    mail_retry_seconds: float = Field(60, gt=0)
    mail_max_attempts: int = Field(10, gt=0)
    # A current approval step that waited this long reminds its approvers; as long again after the reminder, it is
    # offered to the company's administrators too (README "Reminders and escalation").
    approval_reminder_hours: float = Field(48, gt=0)
    # How long the Approve and Reject links of an approval email work (README "Deciding from the email").
    approval_link_hours: float = Field(72, gt=0)
    # An unpaid invoice reminds the company this many days before its due date (README "Payments and reminders").
    invoice_reminder_days_before: int = Field(3, ge=0, le=60)

    # The order change feed (README "Change feed"): changes are kept at least 90 days (a setting may keep
    # them longer, never shorter); a cursor behind that is CHANGES_EXPIRED. Export batches: orders per
    # statement of a streamed export (memory is bounded by one batch).
    change_retention_days: int = Field(90, ge=90)
    export_batch_size: int = Field(500, gt=0, le=5000)

    supplier_currency: str = "NOK"
    # The supplier as seller on every invoice (README "Invoicing"). Outside production, unset fields take the demo
    # supplier's values; in production the invoice run issues nothing until they are set (it reports which).
    supplier_name: str = ""
    supplier_org_number: str = ""  # Norwegian organisation number, 9 digits
    supplier_vat_number: str = ""  # empty: NO<org number>MVA
    supplier_street: str = ""
    supplier_postal_code: str = ""
    supplier_city: str = ""
    supplier_bank_account: str = ""  # Norwegian account number (11 digits), where invoices are paid
    supplier_iban: str = ""
    supplier_bic: str = ""
    supplier_email: str = ""
    default_credit_limit: int = 300_000_00  # minor units: 300 000 NOK, the ceiling of the source services

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # A link to 0.0.0.0 (or ::) opens nothing: those mean "every interface", so point at this machine.
        if not self.public_url:
            host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
            host = f"[{host}]" if ":" in host else host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _bucket_holds_the_largest_query(self) -> Settings:
        if self.api_rate_limit_capacity < self.max_query_cost:
            raise ValueError(f"API_RATE_LIMIT_CAPACITY ({self.api_rate_limit_capacity}) must be at least "
                             f"MAX_QUERY_COST ({self.max_query_cost}), or the costliest query could never run")
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _demo_supplier(self) -> Settings:
        if not self.is_production:
            for name, value in DEMO_SUPPLIER.items():
                if not getattr(self, name):
                    setattr(self, name, value)
        if self.supplier_org_number and not self.supplier_vat_number:
            self.supplier_vat_number = f"NO{self.supplier_org_number}MVA"
        return self

    def missing_supplier_details(self) -> list[str]:
        """The supplier settings an invoice needs and lacks (environment variable names)."""
        required = ("supplier_name", "supplier_org_number", "supplier_street", "supplier_postal_code",
                    "supplier_city", "supplier_bank_account")
        return [name.upper() for name in required if not getattr(self, name)]

    @model_validator(mode="after")
    def _development_secret(self) -> Settings:
        if not self.jwt_secret and not self.is_production:
            self.jwt_secret = DEV_SECRET
        return self

    @property
    def is_production(self) -> bool:
        return self.procura_env == "production"

    @property
    def webhooks_reach_private_networks(self) -> bool:
        """Whether webhooks may go to non-public addresses (and over plain http): never by default in production."""
        if self.webhook_allow_private_networks is not None:
            return self.webhook_allow_private_networks
        return not self.is_production

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def production_problem(self) -> str | None:
        """Why these settings must not serve production; None when they may (or outside production)."""
        if not self.is_production:
            return None
        hint = (f"set JWT_SECRET to a random value of at least {MIN_JWT_SECRET_BYTES} bytes "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                "or PROCURA_ENV=development to run locally")
        size = len(self.jwt_secret.encode())
        if not self.jwt_secret:
            return f"JWT_SECRET is not set and PROCURA_ENV is production (the default): {hint}"
        if self.jwt_secret == DEV_SECRET:
            return f"JWT_SECRET is the development value, which is public: {hint}"
        if size < MIN_JWT_SECRET_BYTES:
            return f"JWT_SECRET is {size} bytes, too short for production: {hint}"
        return None

    def check_production_safety(self) -> None:
        problem = self.production_problem()
        if problem:
            raise UnsafeSettings(problem)
