"""A stand-in browser for `auth login --browser` (selected through the BROWSER variable):
it opens the authorization URL and submits the page's form_post form to the redirect URI,
as a signed-in user's browser would."""

import os
import re
import sys

import requests

if __name__ == "__main__":
    page = requests.get(sys.argv[1], verify=os.environ["REQUESTS_CA_BUNDLE"], timeout=30)
    action = re.search(r'action="([^"]+)"', page.text)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    if not page.ok or action is None:
        sys.exit(1)
    reply = requests.post(action.group(1), data=fields, timeout=30)
    sys.exit(0 if reply.ok else 1)
