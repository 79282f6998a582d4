"""leadsla: the service level agreement between marketing and sales, on business-hour clocks."""

__version__ = "0.1.0"
