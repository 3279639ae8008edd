"""`make bench`: Gatehouse against nginx (and the content service against StaticFiles).

`python -m bench.run --help` lists the options; issue 4 describes the scenarios.
"""
