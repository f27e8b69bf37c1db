"""The site's WebSocket view, written as the package's quickstart writes one."""
from django.http import JsonResponse
from django_aws_api_gateway_websockets.models import WebSocketSession
from django_aws_api_gateway_websockets.views import WebSocketView


class ChatView(WebSocketView):
    # The package also requires X-Real-Ip, which nginx adds in front of Django, not API
    # Gateway: this site runs without nginx, as a Django app behind API Gateway alone may.
    additional_required_headers = ["X-Amzn-Trace-Id", "X-Forwarded-Port"]

    def default(self, request, *args, **kwargs):
        # Answered by pushing: the route is one-way, so the JsonResponse below never reaches
        # the client (API Gateway drops it).
        self.websocket_session.send_message({"type": "echo", "got": self.body.get("message")})
        return JsonResponse({"ok": True})

    def shout(self, request, *args, **kwargs):
        WebSocketSession.objects.filter(
            channel_name=self.websocket_session.channel_name
        ).send_message({"type": "shout", "from": request.user.username, "text": self.body.get("text")})
        return JsonResponse({"ok": True})
