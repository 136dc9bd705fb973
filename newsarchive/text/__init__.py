"""Text functions shared by the build and the site: word marks, credits, site templates.

Nothing here imports the Markdown parser or YAML, so the served site can use them.
"""
