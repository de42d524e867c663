from ticker.cli import run

run()
