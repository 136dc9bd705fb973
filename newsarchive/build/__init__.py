"""The build: a folder of posts -> a checked database swapped in beside the served one."""
from .pipeline import BuildRefused, Problem, Summary, build, check_folder

__all__ = ["BuildRefused", "Problem", "Summary", "build", "check_folder"]
