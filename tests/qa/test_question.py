"""Questions as typed: control characters and terminal colours do not reach the retriever."""

from qa.answer import looks_english
from qa.assistant import check_question


class TestCheckQuestion:
    def test_ansi_sequences_go_whole(self):
        raw = "Why did\x07 Pashinyan\x1b[31m skip\x00 the\x1b[0m summit?\x08\x1b]0;title\x07"
        assert check_question(raw) == "Why did Pashinyan skip the summit?"


class TestLooksEnglish:
    def test_scripts_and_function_words(self):
        assert looks_english("Why did Pashinyan skip the summit?")
        assert looks_english("Putin Kyrgyzstan?")  # too short to judge: no note
        assert not looks_english("Почему Пашинян пропустил саммит?")
        assert not looks_english("Warum hat Paschinjan den Gipfel verpasst?")
