"""Input validation shared by the pages and the JSON API, one module per kind of caller.

- ``fields``: fields that refuse a JSON value of the wrong type, and ``JsonForm``.
- ``api``: the JSON API's forms, one per endpoint that takes a body.
- ``pages``: the create page's and the project page's forms.
"""
