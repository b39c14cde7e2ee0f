"""PostgreSQL, Redis, the channel layer and Celery.

`make run` / `make test` start embedded servers (ccportal/devservers.py) and export DATABASE_URL and
REDIS_URL when they are not set; here both are simply required.
"""

from __future__ import annotations

import dj_database_url

from .env import get_bool, get_int, get_str

_HINT = "`make run` and `make test` start embedded servers and set it for you."

DATABASE_URL = get_str("DATABASE_URL", hint=_HINT)
REDIS_URL = get_str("REDIS_URL", hint=_HINT)

# Under ASGI, persistent connections (CONN_MAX_AGE > 0) leak one connection per thread and exhaust
# PostgreSQL (see docs/architecture.md); Django's psycopg pool is the safe way to reuse them.
# WSGI processes (gunicorn) may instead use DB_CONN_MAX_AGE with DB_POOL=false.
DB_POOL = get_bool("DB_POOL", True)
DB_POOL_MIN = get_int("DB_POOL_MIN_SIZE", 2, minimum=0)
DB_POOL_MAX = get_int("DB_POOL_MAX_SIZE", 10, minimum=1)

_database = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=0 if DB_POOL else get_int("DB_CONN_MAX_AGE", 0, minimum=0),
)
if DB_POOL:
    _database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": DB_POOL_MIN,
        "max_size": DB_POOL_MAX,
        "timeout": get_int("DB_POOL_TIMEOUT", 10, minimum=1),
    }
# PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost: for the wide
# statements of insights that took 1-3 s per statement (even on six conversations, when a
# disabled join kind inflates the estimate), far more than the queries run. Off unless DB_JIT.
if not get_bool("DB_JIT", False):
    _options = _database.setdefault("OPTIONS", {})
    _options["options"] = " ".join(filter(None, [_options.get("options", ""), "-c jit=off"]))
DATABASES = {"default": _database}

# A read replica for dashboards, exports and the audit lists (docs/scaling.md, "PostgreSQL"):
# optional; absent, everything reads from the primary. Only views marked @replica_reads use it
# (apps/common/replica.py), and never for a browser that wrote in the last few seconds.
DATABASE_REPLICA_URL = get_str("DATABASE_REPLICA_URL", "")
READ_REPLICA = "replica" if DATABASE_REPLICA_URL else ""
DATABASE_REPLICA_PIN_SECONDS = get_int("DATABASE_REPLICA_PIN_SECONDS", 5, minimum=0)
DATABASE_REPLICA_MAX_LAG_SECONDS = get_int("DATABASE_REPLICA_MAX_LAG_SECONDS", 30, minimum=0)
if DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=_database["CONN_MAX_AGE"])
    for _key in ("pool", "options"):
        if _key in _database.get("OPTIONS", {}):
            _replica.setdefault("OPTIONS", {})[_key] = _database["OPTIONS"][_key]
    # Tests make the replica a database of its own (not a mirror of the primary), named apart
    # even when both URLs name the same database, so a test can tell where a read went; its
    # tables are made from the models (no migrations to replay: seconds, not minutes).
    _replica["TEST"] = {
        "NAME": f"test_{_replica['NAME']}_replica",
        "DEPENDENCIES": [],
        "MIGRATE": False,
    }
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["apps.common.replica.ReplicaRouter"]


def _kombu_url(url: str) -> str:
    # kombu spells a Unix-socket Redis URL differently from redis-py.
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ccportal",
    }
}

# redis-py 8 caps an async pool at 100 connections and raises instead of waiting, so give the
# channel layer a roomy pool (one connection per concurrently joining socket at peak).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "max_connections": get_int("CHANNEL_LAYER_MAX_CONNECTIONS", 1000, minimum=10),
                    # A consumer waits for its messages with BZPOPMIN of 5 s; redis-py 8 reads
                    # every reply with a 5 s socket timeout by default, so under load an idle
                    # socket's wait timed out and the consumer crashed (the socket closed). The
                    # read must outlast the wait.
                    "socket_timeout": get_int("CHANNEL_LAYER_SOCKET_TIMEOUT", 15, minimum=6),
                }
            ],
            "prefix": "ccportal:asgi",
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

# CHANNEL_LAYER=pubsub: Redis pub/sub instead (fans out faster, keeps nothing: a message sent
# while a process reconnects is lost, which the conversation pages recover by catching up;
# notifications would not). docs/benchmarks.md, "Live latency", compares the two.
if get_str("CHANNEL_LAYER", "redis") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": "ccportal:asgi"},
        }
    }

CELERY_BROKER_URL = _kombu_url(get_str("CELERY_BROKER_URL", REDIS_URL))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = get_int("CELERY_PREFETCH", 4, minimum=1)
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must not hang a web request when Redis is gone: fail fast, the row is already stored
# and the sweeper re-enqueues it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = get_bool("CELERY_TASK_ALWAYS_EAGER", False)
