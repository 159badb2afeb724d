"""``picows.websockets.extensions``: websockets' extension API (the same names, as websockets lays them out).

The classes are websockets' own when it is installed, so an extension written
for websockets is one for picows.websockets; without websockets they are
ours, with the same names and methods. See ``connect(extensions=...)`` /
``serve(extensions=...)`` and the guide for how picows.websockets runs them.
"""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]
