"""A pytest plugin (``-p install_integration``): installs the integration first.

Imported before ormar's test modules declare their models, as a user's
application would import ``ormar_integration`` at start-up.
"""

import ormar_integration

assert ormar_integration.is_installed()
