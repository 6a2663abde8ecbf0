"""The demo: a consortium of a flour-mill group and e-commerce platforms with weeks of
activity, loaded into a fresh ledger and served (``supplyledger demo``)."""

from supplyledger.demo.load import DemoInfo, load_demo

__all__ = ["DemoInfo", "load_demo"]
