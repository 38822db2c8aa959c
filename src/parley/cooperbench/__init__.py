"""CooperBench (arXiv 2601.13295): load runs, evaluate patches, classify failures, analyse, plot."""
