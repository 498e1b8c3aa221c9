"""Story-completion evaluation (spoken / written StoryCloze) and its statistics."""
