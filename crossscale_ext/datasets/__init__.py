"""Data sets: the synthetic saliency sets with known ground truth and the real long-horizon benchmarks."""
