"""The web application: JSON API and pages for operators, dispatchers and controllers."""
