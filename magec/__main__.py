from magec.cli import app

app()
