from spatial.cli import run

run()
