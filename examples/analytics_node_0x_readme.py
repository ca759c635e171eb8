"""analytics-node 0.x's README, written in Python: only the import line is new.

Each snippet of the README, in its order, as a Python dict instead of a JavaScript
object. The secret and host are the dev server's, so it runs as it is:

    analytics-compat serve                           # in another terminal
    python examples/analytics_node_0x_readme.py      # then: analytics-compat events

``ANALYTICS_COMPAT_HOST`` points it elsewhere. The README's option snippets, which
would call ``init`` a second time on the module's client, run on clients of their own
(its "Multiple Clients" section).
"""

import os

import analytics_compat as analytics  # was: var analytics = require('analytics-node');

SECRET = "phc_dev"  # the dev server's project token
HOST = os.environ.get("ANALYTICS_COMPAT_HOST", "http://127.0.0.1:8010")

# -- Node Analytics Made Simple / Initialize the client
analytics.init({"secret": SECRET, "host": HOST})
analytics.track({"userId": "user@gmail.com", "event": "Played a Song"})

# -- Identify a User
analytics.identify(
    {
        "sessionId": "DKGXt384hFDT82D",
        "userId": "019mr8mf4r",
        "traits": {
            "name": "Achilles",
            "email": "achilles@segment.io",
            "subscriptionPlan": "Premium",
            "friendCount": 29,
        },
    }
)

# -- Track an Action
analytics.track(
    {
        "sessionId": "DKGXt384hFDT82D",
        "userId": "019mr8mf4r",
        "event": "Listened to a song",
        "properties": {"revenue": 39.95, "shippingMethod": "2-day"},
    }
)

# -- Message Acknowledgement
promise = analytics.track({"userId": "calvin@segment.io", "event": "Plays Ultimate"})
promise.on("flush", lambda: print("I'm 2000 miles away now!"))
promise.on("err", lambda err: print("Error occured: ", err))

# -- How do I know when any messages are flushed? / Error Handling
analytics.on("flush", lambda: print("I just got flushed. YAY!"))
analytics.on("err", lambda err: print("Error occured", err))

# -- Turn off Batching (on a client of its own: see the docstring)
unbatched = analytics.Client()
unbatched.init({"secret": SECRET, "host": HOST, "flushAt": 1})
unbatched.track({"userId": "user@gmail.com", "event": "Sent at once"})

# -- Understanding the Client Options / Multiple Clients
other = analytics.Client()  # was: new require('analytics-node').Client()
other.init(
    {
        "secret": SECRET,
        "host": HOST,
        "flushAt": 20,
        "flushAfter": 10000,
        "maxQueueSize": 10000,
        "timerInterval": 10000,
        "triggers": [analytics.triggers.size, analytics.triggers.time],
    }
)
other.track({"sessionId": "DKGXt384hFDT82D", "event": "From another client"})

# -- Flush Whenever You Want
analytics.flush(lambda err: print("Flushed, and now this program can exit!"))
