"""Training of the classifier and the enhancers: the tasks (what differs) and the loop (what is shared)."""
