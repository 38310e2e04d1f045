"""Import every sample domain's pipelines, which registers them.

`pipeline_groups` imports this module when Django is ready; the domain modules
use the models, so they cannot be imported from `domains/__init__.py`.
"""

from domains import python_groups
from domains.finra import otc_transparency
from domains.market_data import prices
from domains.reference import exchange_calendar

__all__ = ["exchange_calendar", "otc_transparency", "prices", "python_groups"]
