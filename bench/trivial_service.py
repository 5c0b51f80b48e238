"""The framework's ceiling: a nameko HTTP endpoint that does nothing but answer."""

from nameko.web.handlers import http


class TrivialService:
    name = "trivial"

    @http("POST", "/echo")
    def echo(self, request):
        request.get_data()
        return 201, '{"ok": true}'
