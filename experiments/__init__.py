"""Studies built on the trainer (big_vision's ``proj/`` pattern): not the trainer."""
