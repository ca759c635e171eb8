"""segment-analytics-python's README and documentation examples: only the import line is new.

The calls of segment-python's README and of its documentation page (segment.com's
"Analytics for Python"), in their order, with the write key and host set to the dev
server's, so it runs as it is:

    analytics-compat serve                           # in another terminal
    python examples/segment_python_readme.py         # then: analytics-compat events

``ANALYTICS_COMPAT_HOST`` points it elsewhere. The documentation's ``{ plan: 'Free' }``
(not Python) is written ``{'plan': 'Free'}``. Its timestamps use python-dateutil, as
the documentation does (segment-python depended on it; posthog-python does too).
"""

import datetime
import os

import dateutil.parser
from dateutil.tz import tzutc

import analytics_compat as analytics  # was: import segment.analytics as analytics
from analytics_compat import Client  # was: from analytics import Client

# -- Getting Started: set your write_key before making any analytics calls
analytics.write_key = "phc_dev"  # the dev server's project token
analytics.host = os.environ.get("ANALYTICS_COMPAT_HOST", "http://127.0.0.1:8010")


# -- Development Settings
def on_error(error, items):
    print("An error occurred:", error)


analytics.debug = True
analytics.on_error = on_error

# -- Identify
analytics.identify("019mr8mf4r", {"email": "john@example.com", "name": "John Smith", "friends": 30})

# -- Track
analytics.track("f4ca124298", "Signed Up", {"plan": "Enterprise"})
analytics.track(
    "f4ca124298",
    "Article Bookmarked",
    {"title": "Snow Fall", "subtitle": "The Avalance at Tunnel Creek", "author": "John Branch"},
)

# -- Page and Screen
analytics.page("user_id", "Docs", "Python", {"url": "http://segment.com"})
analytics.screen("user_id", "Settings", "Brightness", {"from": "Home Screen"})

# -- Group
analytics.group("user_id", "group_id", {"name": "Initech", "domain": "Accounting Software"})

# -- Alias: the anonymous user does actions under an anonymous ID
analytics.track("92734232-2342423423-973945", "Anonymous Event")
# the anonymous user signs up and is aliased to their new user ID
analytics.alias("92734232-2342423423-973945", "1234")
# the user is identified
analytics.identify("1234", {"plan": "Free"})
# the identified user does actions
analytics.track("1234", "Identified Action")

# -- Historical Import
timestamp = datetime.datetime(2538, 10, 17, 0, 0, 0, 0, tzinfo=tzutc())
analytics.track("019mr8mf4r", "Bought a game", {"game": "Duke Nukem forever"}, timestamp=timestamp)

# -- Server Logs Example
log = ["2012-10-17T18:58:57.911Z 019mr8mf4r /purchased/tshirt"]

for entry in log:
    timestamp_str, user_id, url = entry.split(" ")
    timestamp = dateutil.parser.parse(timestamp_str)  # resulting datetime.datetime object is aware

    # have a timezone? check yo'self
    assert timestamp.tzinfo is not None and timestamp.tzinfo.utcoffset(timestamp) is not None

    analytics.track(
        user_id, "Shirt Bought", {"color": "Blue", "revenue": 17.90}, timestamp=timestamp
    )

analytics.flush()

# -- Selecting Destinations
analytics.track(
    "9742",
    "Song Played",
    integrations={"all": False, "Kissmetrics": True, "Google Analytics": False},
)

# -- Overriding Context Value
analytics.track(
    "9742",
    "Song Played",
    context={
        "ip": 1234,
        "userAgent": "Mozilla/5.0 (Linux; U; Android 4.1.1; en-gb; Build/KLP) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Version/4.0 Safari/534.30",
    },
)

# -- How do I gzip requests? / Options (clients of their own; they send nothing here)
gzipped = Client("YOUR_WRITE_KEY", gzip=True)
tuned = Client(
    "YOUR_WRITE_KEY",
    debug=True,
    on_error=on_error,
    send=True,
    max_queue_size=100000,
    upload_interval=5,
    upload_size=500,
    gzip=True,
)

# -- Versioning
print(analytics.VERSION)

# -- How do I flush right now?!
analytics.flush()
