"""ccportal settings, one module per concern; every value comes from the environment."""

from .access import *  # noqa: F403
from .api import *  # noqa: F403
from .audit import *  # noqa: F403
from .auth import *  # noqa: F403
from .base import *  # noqa: F403
from .guards import *  # noqa: F403
from .insights import *  # noqa: F403
from .intelligence import *  # noqa: F403
from .live import *  # noqa: F403
from .privacy import *  # noqa: F403
from .qa import *  # noqa: F403
from .retention import *  # noqa: F403
from .security import *  # noqa: F403
from .services import *  # noqa: F403
from .twilio import *  # noqa: F403
