from socialtaxi.cli import app

app(prog_name="socialtaxi")
