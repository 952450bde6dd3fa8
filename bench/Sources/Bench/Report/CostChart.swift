import Foundation

/// An SVG line chart of cost as the fleet grows: one x axis (agents), up to a few series each
/// scaled to its own maximum and labelled with its values, so no plotting library is needed.
struct CostChart {
    struct Series {
        var name: String
        var unit: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var series: [Series]

    func svg(width: Double = 720, height: Double = 420) -> String {
        let left = 70.0, right = 30.0, top = 50.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }
        let xMax = max(1, xs.max() ?? 1)
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>
        <line x1="\(left)" y1="\(top + plotHeight)" x2="\(left + plotWidth)" y2="\(top + plotHeight)" stroke="#333"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotHeight)" stroke="#333"/>
        <text x="\(Int(left + plotWidth / 2))" y="\(Int(height - 15))" text-anchor="middle">connected agents</text>

        """
        for tick in Set(xs).sorted() {
            let x = left + tick / xMax * plotWidth
            out += "<line x1=\"\(x)\" y1=\"\(top + plotHeight)\" x2=\"\(x)\" y2=\"\(top + plotHeight + 5)\" stroke=\"#333\"/>"
            out += "<text x=\"\(x)\" y=\"\(top + plotHeight + 20)\" text-anchor=\"middle\">\(Int(tick))</text>\n"
        }
        for (index, line) in series.enumerated() {
            let yMax = max(1e-9, line.points.map(\.y).max() ?? 1) * 1.15
            let path = line.points.map { point in
                "\(left + point.x / xMax * plotWidth),\(top + plotHeight - point.y / yMax * plotHeight)"
            }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for point in line.points {
                let x = left + point.x / xMax * plotWidth, y = top + plotHeight - point.y / yMax * plotHeight
                out += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"3\" fill=\"\(line.color)\"/>"
                out += "<text x=\"\(x + 5)\" y=\"\(y - 6)\" fill=\"\(line.color)\">\(Figure.format(point.y))</text>\n"
            }
            out += "<text x=\"\(left + 10)\" y=\"\(top - 8 + Double(index) * 0)\" dx=\"\(index * 300)\" fill=\"\(line.color)\">— \(escape(line.name)) (\(escape(line.unit)))</text>\n"
        }
        return out + "</svg>\n"
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
