from phonectl.cli import run

run()
