"""Stories across outlets: the same event as each outlet reported it.

`ticker.stories.match` decides whether two headlines report the same event (pure, no database);
the grouping of stored headlines into stories lives beside it.
"""
