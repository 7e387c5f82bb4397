"""TalkCLIP (Ma et al., 2023): talking heads whose speaking style is given by a text description.
See docs/models/talkclip.md for the sources of every module and every choice the paper leaves open."""

from tfbench.models.talkclip.model import TalkCLIP

__all__ = ["TalkCLIP"]
