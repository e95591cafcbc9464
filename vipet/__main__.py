from vipet.cli import app

app()
