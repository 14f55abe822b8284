"""The web application: server-rendered pages for each role, on top of the same services as the JSON API.

``base`` holds what every page shares (the signed-in viewer, the post a page needs, CSRF-checked forms,
rendering); one module per role holds its pages, each thin like the API's routers.
"""
